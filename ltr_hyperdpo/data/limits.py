"""Limits and names of the data layer with no dependencies, so that the CLI's parser can state them without
loading the parser kernel (numba) or NumPy."""

#: the widest feature index accepted by default (``convert --max-features``): public LTR sets have at most a few
#: thousand features, and data are stored dense, so one stray huge index (a typo) would otherwise allocate a matrix
#: that wide; a wider sparse set raises the limit explicitly
DEFAULT_MAX_FEATURES = 100_000
#: the largest relevance label accepted: NDCG's gain 2^y - 1 must stay finite when summed over a list in float32
#: (2^100 x a list of a million documents is still below float32's 3.4e38); above it every metric would be NaN
MAX_LABEL = 100.0
#: the objective presets' names (``objectives.PRESETS``; a test keeps the two equal)
PRESET_NAMES = "label, mslr5, mslr5_strict, mslr3, mslr6, mq2008, mslr_quality"
