"""Model compositions (translator, classifier), in-graph decoding and pretrained presets."""
