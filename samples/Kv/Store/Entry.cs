namespace Sockeye.Samples.Kv.Store;

/// <summary>One key's value, its expiry time, and where <see cref="Keyspace"/> keeps it for SCAN.</summary>
internal sealed class Entry(byte[] key, object value)
{
    /// <summary>The key, the same array the keyspace's dictionary holds.</summary>
    public byte[] Key { get; } = key;

    /// <summary>The entry's index in the keyspace's slot array (SCAN's cursor counts these); −1 once deleted.</summary>
    public int Slot { get; set; } = -1;

    /// <summary>The value: <c>byte[]</c> (string), <see cref="KvList"/>, <see cref="KvHash"/>,
    /// <see cref="KvSet"/> or <see cref="KvSortedSet"/>.</summary>
    public object Value { get; set; } = value;

    /// <summary>When the key expires, in <see cref="Keyspace.Now"/> milliseconds; 0 for never.</summary>
    public long ExpiresAt { get; set; }

    /// <summary>The name TYPE answers.</summary>
    public string TypeName => Value switch
    {
        byte[] => "string",
        KvList => "list",
        KvHash => "hash",
        KvSet => "set",
        _ => "zset",
    };
}
