/* ecbench compare: being written */
#include "reports/reports.h"
int ecb_cmd_compare(int argc, char **argv) { (void)argc; (void)argv; return 2; }
