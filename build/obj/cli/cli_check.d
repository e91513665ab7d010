build/obj/cli/cli_check.o: src/cli/cli_check.c src/cli/cli.h \
 src/conf/conf_live.h src/conf/conf.h src/core/err.h src/core/str.h
src/cli/cli.h:
src/conf/conf_live.h:
src/conf/conf.h:
src/core/err.h:
src/core/str.h:
