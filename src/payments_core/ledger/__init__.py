"""The double-entry ledger: accounts, transfers with two-phase holds, and the journal.

Modelled on TigerBeetle's accounts and transfers, adapted to transfers of many postings. The
rules live in `engine.plan`, a pure function; stores (`payments_core.ports.LedgerStore`) only
persist what it decides.
"""

from payments_core.ledger.accounts import (
    MAX_BALANCE,
    Account,
    AccountFlags,
    Balances,
    Bucket,
    Side,
)
from payments_core.ledger.chart import AccountCode, Chart
from payments_core.ledger.checks import fold, problems, trial_balance
from payments_core.ledger.engine import (
    AccountNotFound,
    LedgerView,
    Outcome,
    StagedView,
    plan,
    plan_batch,
    plan_expiry,
)
from payments_core.ledger.transfers import (
    Entry,
    Hold,
    Posting,
    Transfer,
    TransferMode,
    TransferRequest,
)

__all__ = [
    "MAX_BALANCE",
    "Account",
    "AccountCode",
    "AccountFlags",
    "AccountNotFound",
    "Balances",
    "Bucket",
    "Chart",
    "Entry",
    "Hold",
    "LedgerView",
    "Outcome",
    "Posting",
    "Side",
    "StagedView",
    "Transfer",
    "TransferMode",
    "TransferRequest",
    "fold",
    "plan",
    "plan_batch",
    "plan_expiry",
    "problems",
    "trial_balance",
]
