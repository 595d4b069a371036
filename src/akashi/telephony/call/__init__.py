"""Call control: states (:mod:`.state`), the sans-I/O machine (:mod:`.machine`) and its runner
(:mod:`.runner`), typed facts and outcome (:mod:`.facts`, :mod:`.outcome`), the numbers of a call
(:mod:`.numbers`) and what a call needs of the service and of itself (:mod:`.host`, :mod:`.view`)."""
