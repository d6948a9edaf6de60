"""Small English/Spanish and CMUdict-style corpora; tokenizers trained on them once per session."""

from __future__ import annotations

import pytest

from kerattn import text

ENGLISH = [
    "Hello, world!",
    "Don't close the dialog; it's still saving.",
    "Choose Tools - Options - LibreOffice Writer.",
    "Click OK (or press Enter) to apply the changes.",
    "The document has 1,250 words and 3.5 pages.",
    "Is the file saved? Yes, it is!",
    "Select the cells, then click Format - Cells.",
    "You can't undo this step: the data is deleted.",
    "The meeting starts at 10:30 and ends at 12:00.",
    "About 50% of the users prefer the sidebar.",
    'He said "open the file" and left.',
    "Type the e-mail address of the recipient.",
    "The report [page 7] shows the results.",
    "Press Shift+F7 to open the thesaurus.",
    "This movie was great, and I'd watch it again!",
    "The acting wasn't good; the plot was worse.",
    "I loved the music, the actors and the story.",
    "What a boring film... I fell asleep.",
    "The table has 12 rows and 4 columns.",
    "Open the Styles window and select a style.",
    "She's the best actress of the year.",
    "Save the document, then close the window.",
    "The sidebar shows the properties of the object.",
    "We watched it twice in 2019 and it's still great.",
]

SPANISH = [
    "¡Hola, mundo!",
    "¿Dónde está la estación de tren?",
    "Elija Herramientas - Opciones - LibreOffice Writer.",
    "Pulse «Aceptar» para aplicar los cambios.",
    "El documento tiene 1,250 palabras y 3.5 páginas.",
    "¿Está guardado el archivo? ¡Sí, lo está!",
    "Seleccione las celdas y pulse Formato - Celdas.",
    "No se puede deshacer este paso: los datos se eliminan.",
    "La reunión empieza a las 10:30 y termina a las 12:00.",
    "Aproximadamente el 50% de los usuarios prefiere la barra lateral.",
    "Escriba la dirección de correo electrónico del destinatario.",
    "El informe (página 7) muestra los resultados.",
    "Pulse Mayús+F7 para abrir el diccionario de sinónimos.",
    "La película fue excelente y la vería otra vez.",
    "Abra la ventana Estilos y seleccione un estilo.",
    "Guarde el documento y cierre la ventana.",
    "La tabla tiene 12 filas y 4 columnas.",
    "¿Qué opción prefiere usted? ¡Ésta, por favor!",
    "El niño comió una manzana en el jardín.",
    "Él dijo «abra el archivo» y se fue.",
    "La barra lateral muestra las propiedades del objeto.",
    "Año tras año, la música mejora.",
]

# CMUdict-style (word, ARPAbet) pairs.
PRONUNCIATIONS = [
    ("HELLO", "HH AH0 L OW1"),
    ("WORLD", "W ER1 L D"),
    ("HELP", "HH EH1 L P"),
    ("LOW", "L OW1"),
    ("WORD", "W ER1 D"),
    ("OLD", "OW1 L D"),
    ("HOLD", "HH OW1 L D"),
    ("DOLL", "D AA1 L"),
]


@pytest.fixture(scope="session")
def corpus() -> list[str]:
    return ENGLISH + SPANISH


@pytest.fixture(scope="session")
def wordpiece_vocabulary(corpus) -> list[str]:
    return text.train_wordpiece_vocabulary(corpus, vocabulary_size=400)


@pytest.fixture(scope="session")
def tokenizer(wordpiece_vocabulary) -> text.WordPieceTokenizer:
    return text.WordPieceTokenizer(wordpiece_vocabulary, name="wordpiece")


@pytest.fixture(scope="session")
def grapheme_tokenizer() -> text.SymbolTokenizer:
    words = [word for word, _ in PRONUNCIATIONS]
    vocabulary = text.train_symbol_vocabulary(words, split="characters", lowercase=True)
    return text.SymbolTokenizer(vocabulary, split="characters", lowercase=True, name="graphemes")


@pytest.fixture(scope="session")
def phoneme_tokenizer() -> text.SymbolTokenizer:
    phonemes = [pronunciation for _, pronunciation in PRONUNCIATIONS]
    vocabulary = text.train_symbol_vocabulary(phonemes, split="whitespace")
    return text.SymbolTokenizer(vocabulary, split="whitespace", name="phonemes")
