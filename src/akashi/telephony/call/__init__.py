"""Call control: the call's states (:mod:`.state`), what it needs of the service (:mod:`.host`)."""
