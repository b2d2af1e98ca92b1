"""Training-step benchmarks: measuring steps (:mod:`.measure`), building
and feeding pretraining configs (:mod:`.contenders`, :mod:`.input_size`)
and their result rows (:mod:`.results`)."""
