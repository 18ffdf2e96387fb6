"""Image captioning (issue 5/7), being built: so far the tokenizer (:mod:`.tokenizer`). The
task object, its head and criterion come with the caption model."""
