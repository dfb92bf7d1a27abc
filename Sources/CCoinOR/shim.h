// COIN-OR's C interfaces: CLP (the LP master of the optimizer) and CBC (the small integer program that
// settles the customers the LP leaves split).
#include <Clp_C_Interface.h>
#include <Cbc_C_Interface.h>
