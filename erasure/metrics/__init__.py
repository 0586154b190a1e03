"""Scorers: NudeNet (%NUDE), Q16 (%HARM), clean-fid FID, LPIPS, CLIP score, the toy world's oracle
metrics, and bootstrap summaries. `erasure.metrics.registry.score(name, ...)` runs any of them."""
