// configureLedger gives k6/x/ledger the run's settings from the configuration: the low-balance threshold,
// the settle delay, the status and field mapping of charge answers, and, when set, the run id, instance
// name and journal path (distributed runs: docs/scenarios.md). Call it in the init context.
export function configureLedger(ledger, cfg) {
  const f = cfg.fields;
  const s = {
    lowThreshold: cfg.lowThreshold,
    amountSign: cfg.txAmountSign, // auto, positive or negative: how the service's log writes debits
    settleMs: cfg.settleMs,
    rules: {
      insufficient: [String(cfg.insufficientStatus)],
      fields: { balance: f.balance, version: f.version, txId: f.transactionId, charged: f.charged },
    },
  };
  if (cfg.sharedAccounts) {
    s.allowUnopened = true; // the first instance opens the shared accounts
    s.shared = true; // other instances charge them too: no online bounds from one instance's view
  }
  if (cfg.runId) s.run = cfg.runId;
  if (cfg.instance) s.instance = cfg.instance;
  if (cfg.journal) s.journal = cfg.journal;
  ledger.configure(s);
}
