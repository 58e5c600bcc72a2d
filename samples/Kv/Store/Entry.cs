namespace Sockeye.Samples.Kv.Store;

/// <summary>One key's value and its expiry time.</summary>
internal sealed class Entry(object value)
{
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
