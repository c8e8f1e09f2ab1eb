"""The paper's procedure for one item, as pure functions: draw the item (sampler), prompt the
student twice (prompts, student), grade its answer against the k+3 rubric (rubric, replies,
sentences, grading)."""
