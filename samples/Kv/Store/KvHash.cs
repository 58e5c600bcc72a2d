namespace Sockeye.Samples.Kv.Store;

/// <summary>A hash value: field → value, compared by bytes.</summary>
internal sealed class KvHash() : Dictionary<byte[], byte[]>(ByteKeyComparer.Instance);
