"""The models trained on SynthWorld, apart from the world itself: the mini Stable Diffusion (minisd),
the evaluator that reads generated images back, the mini CLIP, and the tokenizer they share. Their
weights ship in svdstory/assets/."""
