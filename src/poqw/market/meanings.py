"""What each custom error of the market's contracts means, in words (their NatSpec).

The compiled artifacts carry ABIs without NatSpec, so the notices are kept here; a test checks
that every error of every shipped ABI has one and that the market's own match the Solidity
sources. Errors from OpenZeppelin carry its ``@dev`` text.
"""

from __future__ import annotations

__all__ = ["ERROR_MEANINGS"]

ERROR_MEANINGS: dict[str, str] = {
    "AccessControlBadConfirmation": "The caller of a function is not the expected one.",
    "AccessControlUnauthorizedAccount": "The `account` is missing a role.",
    "AlreadyCommitted": "A solver committing twice to the same problem.",
    "AlreadySettled": "Settling a problem that is already settled.",
    "CommitPhaseOver": "Committing after the commit deadline.",
    "CommitmentMismatch": "The revealed spins and salt do not open the solver's commitment.",
    "CommitmentsOpen": "Withdrawing while commitments backed by the stake are still open.",
    "CouplingOutOfRange": "Coupling number `term` has a value outside [-7, 7].",
    "CouplingsNotWholeTerms": "`couplings` is not a whole number of 3-byte terms.",
    "DeadlineInPast": "A commit deadline not in the future.",
    "DeadlineTooFar": "A commit deadline more than MAX_COMMIT_PERIOD away.",
    "ECDSAInvalidSignature": "The signature is invalid.",
    "ECDSAInvalidSignatureLength": "The signature has an invalid length.",
    "ECDSAInvalidSignatureS": "The signature has an S value that is in the upper half order.",
    "ERC20InsufficientAllowance":
        "Indicates a failure with the `spender`’s `allowance`. Used in transfers.",
    "ERC20InsufficientBalance":
        "Indicates an error related to the current `balance` of a `sender`. Used in "
        "transfers.",
    "ERC20InvalidApprover":
        "Indicates a failure with the `approver` of a token to be approved. Used in "
        "approvals.",
    "ERC20InvalidReceiver": "Indicates a failure with the token `receiver`. Used in transfers.",
    "ERC20InvalidSender": "Indicates a failure with the token `sender`. Used in transfers.",
    "ERC20InvalidSpender":
        "Indicates a failure with the `spender` to be approved. Used in approvals.",
    "ERC2612ExpiredSignature": "Permit deadline has expired.",
    "ERC2612InvalidSigner": "Mismatched signature.",
    "EmptyCommitment": "A commitment of zero.",
    "EvidenceAlreadyUsed": "Slashing twice on the same evidence.",
    "FailedCall": "A call to an address target failed. The target may have reverted.",
    "FeeTooHigh": "A protocol fee above MAX_FEE_BPS.",
    "FieldOutOfRange": "A field outside [-127, 127].",
    "FieldsLengthMismatch": "`fields` is not one byte per variable.",
    "HasCommitments": "Cancelling a problem someone committed to.",
    "IndexOutOfRange":
        "Coupling number `term` names a variable `index` >= the number of variables.",
    "InsufficientBalance": "The ETH balance of the account is not enough to perform the operation.",
    "InsufficientStake": "Unbonding more than the active stake.",
    "InvalidAccountNonce": "The nonce used for an `account` is not the expected current nonce.",
    "InvalidShortString": "A string too long for a short-string slot (token name or symbol).",
    "NoOpenCommitment": "Recording an outcome for a solver without an open commitment.",
    "NotCommitted": "Revealing without a commitment, or a second time.",
    "NotCustomer": "Only the customer who posted the problem may do this.",
    "NothingToReport": "Reporting a solver who did nothing slashable (yet).",
    "NothingToWithdraw": "Withdrawing with nothing credited.",
    "ProblemNotOpen": "The problem is settled or cancelled.",
    "ReentrancyGuardReentrantCall": "Unauthorized reentrant call.",
    "RevealPhaseNotStarted": "Revealing before the commit deadline.",
    "RevealWindowClosed": "Revealing after the reveal window.",
    "RevealWindowOpen": "Settling while solvers may still reveal.",
    "RevealWindowOutOfRange": "A reveal window of zero or longer than MAX_REVEAL_WINDOW.",
    "SafeCastOverflowedUintDowncast": "Value doesn't fit in a uint of `bits` size.",
    "SafeERC20FailedOperation": "An operation with an ERC-20 token failed.",
    "SelfCoupling": "Coupling number `term` couples variable `index` with itself.",
    "ShareOutOfRange": "A share in basis points above 100 %.",
    "SpinsLengthMismatch": "`spins` is not ceil(n / 8) bytes.",
    "SpinsPaddingNotZero": "Bits past the last variable are set in `spins`.",
    "StakeTooLow": "Committing with a stake below the minimum.",
    "StringTooLong": "A string longer than 31 bytes where a short string is required.",
    "TermsMismatch": "The terms given do not hash to the problem's committed terms.",
    "TokenMismatch": "The registry stakes a different token than the market pays in.",
    "TooManyCouplings": "More couplings than `max`.",
    "TransferAmountMismatch":
        "The token moved a different amount than asked (fee-on-transfer tokens are refused).",
    "UnbondingNotFinished": "Withdrawing before the unbonding delay has passed.",
    "UnknownProblem": "No problem has this id.",
    "VariableCountOutOfRange": "A problem with no variables or more than `max`.",
    "ZeroAddress": "An address that must not be zero was zero (`what` names it).",
    "ZeroAmount":
        "An amount of zero: a stake, unbond or withdrawal (registry), a deposit or withdrawal "
        "of coin (WrappedPoQW).",
    "ZeroBounty": "A problem posted without a bounty.",
    "AlreadyAccused": "This commitment is already accused.",
    "AlreadyVoted": "The member already voted on this accusation.",
    "BadCommittee":
        "The committee is empty, the threshold is not a majority, or a member is listed "
        "twice.",
    "BadLeaf": "The leaf's samples are not 4 bytes per shot of its spec.",
    "BadMerklePath": "The Merkle path does not lead from the leaf to the committed root.",
    "BadShotList": "No shots, too many, or a shot number outside the strike.",
    "BadSignature": "The signature is malformed or was not made by the commitment's key.",
    "BadSolverKey": "The commitment's key is not a compressed secp256k1 point.",
    "NoFraud": "Every asked shot is the canonical draw or ambiguous: no fraud shown.",
    "NotMember": "The caller is not on the committee.",
    "NotOpen": "No open accusation for this commitment.",
    "PrecompileFailed":
        "The precompile refused the re-run (wrong model, bad spec, out of gas, or no "
        "precompile).",
}
