// The scenarios load the machine on purpose and several count the process's open descriptors, so
// they run one at a time: a scenario's figures are its own, not its neighbour's.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
