"""ConceptMix, the text-to-image benchmark: concept draws, the official items, grading."""
