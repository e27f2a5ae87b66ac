/* One function per tkvm command, each in its own file (cli/<name>.c). */
#ifndef TKVM_CLI_COMMANDS_H
#define TKVM_CLI_COMMANDS_H

#define TKVM_VERSION "0.1.0"

int command_run(int argc, char **argv);
int command_doctor(int argc, char **argv);
int command_debug(int argc, char **argv);
int command_serve(int argc, char **argv);
int command_new(int argc, char **argv);
int command_build(int argc, char **argv);
int command_profile(int argc, char **argv);
int command_test(int argc, char **argv);
int command_record(int argc, char **argv);
int command_pack(int argc, char **argv);
int command_keygen(int argc, char **argv);
int command_sign(int argc, char **argv);
int command_verify(int argc, char **argv);
int command_publish(int argc, char **argv);
#endif
