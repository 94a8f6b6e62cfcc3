"""Payment provider adapters: each speaks one provider's API behind the core's port."""
