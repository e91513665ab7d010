build/san/smtp/smtp_data.o: src/smtp/smtp_data.c src/smtp/smtp_data.h
src/smtp/smtp_data.h:
