-- One URL with the headers given on the command line.
dofile(os.getenv("LOAD_DIR") .. "/report.lua")
