"""The playground: the real bot against a built-in Bot API, in the browser (aduan playground)."""
