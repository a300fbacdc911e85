// tests/embed/cxx_headers.cc - every public header compiles as C++ and
// links: a C++ VMM includes netbe/netbe.h (its extern "C" guards) as is.
#include <netbe/netbe.h>

int main()
{
    struct netbe_ctx *ctx = netbe_ctx_new(nullptr);
    struct netbe_error *err = nullptr;
    int r = netbe_netdev_add_str(ctx, "hubport,id=h0,hubid=0", true, &err);

    netbe_error_free(err);
    netbe_ctx_free(ctx);
    return r == 0 ? 0 : 1;
}
