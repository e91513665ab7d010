build/obj/smtp/smtp_param.o: src/smtp/smtp_param.c src/smtp/smtp_param.h \
 src/core/str.h
src/smtp/smtp_param.h:
src/core/str.h:
