namespace Sockeye.Samples.Kv.Store;

/// <summary>Compares keys, members and fields by their bytes, and lets a dictionary be searched with a
/// span straight out of the request (<c>GetAlternateLookup&lt;ReadOnlySpan&lt;byte&gt;&gt;</c>), so a lookup
/// allocates nothing.</summary>
/// <remarks>The hash is <see cref="HashCode"/>'s, seeded at random per process, so a client cannot pick
/// keys that all land in one bucket.</remarks>
internal sealed class ByteKeyComparer : IEqualityComparer<byte[]>, IAlternateEqualityComparer<ReadOnlySpan<byte>, byte[]>
{
    /// <summary>The one instance (it holds no state).</summary>
    public static ByteKeyComparer Instance { get; } = new();

    public bool Equals(byte[]? x, byte[]? y) => ReferenceEquals(x, y) || (x is not null && y is not null && x.AsSpan().SequenceEqual(y));

    public int GetHashCode(byte[] obj) => Hash(obj);

    public bool Equals(ReadOnlySpan<byte> alternate, byte[] other) => alternate.SequenceEqual(other);

    public int GetHashCode(ReadOnlySpan<byte> alternate) => Hash(alternate);

    public byte[] Create(ReadOnlySpan<byte> alternate) => alternate.ToArray();

    private static int Hash(ReadOnlySpan<byte> bytes)
    {
        var hash = default(HashCode);
        hash.AddBytes(bytes);
        return hash.ToHashCode();
    }
}
