from kerattn.data.help_pages import pair_key, read_help_paragraphs

HELP = "libreoffice/usr/share/libreoffice/help"


def test_default_alternative_kept_and_platform_alternatives_dropped(fixtures):
    paragraphs = dict(
        read_help_paragraphs(fixtures / HELP / "en-US/text/shared/optionen/macrosecurity.html")
    )
    assert paragraphs["par_idN1054C"] == "Macro Security"
    assert paragraphs["par_idN1056A"].endswith(
        "call the dialog from the Tools - Options - LibreOffice - Security page."
    )
    assert "Preferences" not in paragraphs["par_idN1056A"]
    writer = dict(read_help_paragraphs(fixtures / HELP / "en-US/text/swriter/01/04020100.html"))
    assert writer["hd_id3153640"] == "File name"  # the hidden WIN-only " / DDE command" is dropped


def test_entities_breaks_images_and_scripts(fixtures):
    regex = dict(read_help_paragraphs(fixtures / HELP / "en-US/text/shared/01/02100001.html"))
    assert regex["par_id3147282"] == "& or $0"
    checkbox = dict(read_help_paragraphs(fixtures / HELP / "en-US/text/shared/02/01170102.html"))
    assert checkbox["par_idN10F3E"] == (
        "If entered value is TRUE or not 0: Check box is selected. "
        "If entered value is FALSE or 0: Check box is deselected."
    )
    icon_only = dict(read_help_paragraphs(fixtures / HELP / "en-US/text/shared/01/01010000.html"))
    assert icon_only["par_id3149182"] == ""
    assert "par_id0" not in regex  # markup inside <script> is not a paragraph


def test_repeated_ids_pair_by_occurrence(fixtures):
    page = "text/sbasic/shared/03/lib_ScriptForge.html"
    english = pair_key(read_help_paragraphs(fixtures / HELP / "en-US" / page))
    spanish = pair_key(read_help_paragraphs(fixtures / HELP / "es" / page))
    assert set(english) == {("par_id381589189355849", 0), ("par_id381589189355849", 1)}
    assert "ScriptForge.Basic" in english[("par_id381589189355849", 0)]
    assert "SFDocuments" in english[("par_id381589189355849", 1)]
    assert "ScriptForge.Basic" in spanish[("par_id381589189355849", 0)]
    assert "SFDocuments" in spanish[("par_id381589189355849", 1)]
