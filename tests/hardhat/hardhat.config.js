// A Hardhat node shaped like the anvil that `thingbid up` starts (20 accounts, 1,000,000 ETH each,
// 60M gas blocks, no code-size limit), so the same scenario runs on a third EVM client.
module.exports = {
  networks: {
    hardhat: {
      chainId: 31337,
      blockGasLimit: 60000000,
      allowUnlimitedContractSize: true,
      accounts: { count: 20, accountsBalance: "1000000000000000000000000" },
    },
  },
};
