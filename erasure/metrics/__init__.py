"""Scorers: NudeNet (%NUDE), Q16 (%HARM), clean-fid FID, LPIPS, CLIP score, the worlds' own
metrics (erasure.worlds.scorer), and bootstrap summaries. `erasure.scoring.score(name, ...)` runs any of them."""
