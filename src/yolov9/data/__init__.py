"""Images, videos and (later) datasets."""
