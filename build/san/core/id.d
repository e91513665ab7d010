build/san/core/id.o: src/core/id.c src/core/id.h
src/core/id.h:
