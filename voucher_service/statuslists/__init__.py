"""Token Status Lists (draft-ietf-oauth-status-list): each voucher's place in its programme's
list, and the signed list that tells offline scanners which vouchers are no longer good."""
