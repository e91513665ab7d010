build/san/core/sys.o: src/core/sys.c src/core/sys.h
src/core/sys.h:
