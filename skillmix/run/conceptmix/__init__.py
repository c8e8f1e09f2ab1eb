"""ConceptMix runs: text-to-image models drawing k+1 concepts, a VLM answering one yes/no
question per concept, all through the same stored calls as Skill-Mix."""
