"""The Managed HSM security domain: activation, the quorum download, the transfer key, upload.

``document`` builds and opens the security domain JSON (the format of Microsoft's tooling),
``jose`` and ``shamir`` are its cryptography, ``transfer`` the upload's transfer key, ``state``
the activation flag and the operations' statuses, ``payload`` the keys a security domain carries.
"""

from hsm_emulator.securitydomain.state import SecurityDomainState, not_activated

__all__ = ["SecurityDomainState", "not_activated"]
