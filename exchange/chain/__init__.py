"""Everything that talks to an EVM chain. The only package that imports web3."""
