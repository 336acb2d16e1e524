/* placeholder */
#include "wse/wse.h"
int wf_plan_dummy_(void);
int wf_plan_dummy_(void) { return 0; }
