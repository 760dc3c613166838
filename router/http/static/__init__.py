"""Static files of the agent console (a package so the files ship with it)."""
