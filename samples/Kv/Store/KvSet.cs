namespace Sockeye.Samples.Kv.Store;

/// <summary>A set value: members compared by bytes.</summary>
internal sealed class KvSet() : HashSet<byte[]>(ByteKeyComparer.Instance);
