"""ConsiStory (Tewel et al., SIGGRAPH 2024) in one place, beside the paper's words:

- method.py: the two stages (pre-pass, main pass), anchors + extras; the orchestration
- policy.py: the attention policy that composes the parts below
- maps.py: subject maps from cross-attention (or a DiT's image-query x text-key block), averaged into masks
- pattern.py: subject-driven self-attention's sharing pattern, masks after mask dropout
- query_mixing.py: vanilla-query mixing, which keeps each image's layout its own
- injection.py: feature injection through dense correspondences
- correspondence.py, features.py: those correspondences, from DIFT features captured with a forward hook
"""
