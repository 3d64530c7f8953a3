"""The mask-free sharing methods: each image attends to its own tokens and to the anchors' (policy.py), and the
methods differ in what those tokens look like when they arrive and which of them each image sees:

- shared.py: all of them (the leakage ablation); pooling.py: averaged over patches, for speed
- svd.py: filtered through their singular values (the proposed method); svd_targets.py: its three targets
- storydiffusion.py: a random sample of them (StoryDiffusion's consistent self-attention)
- runs.py: run, anchors and extras, built once for the three
"""
