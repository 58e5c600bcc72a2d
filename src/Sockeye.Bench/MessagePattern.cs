namespace Sockeye.Bench;

/// <summary>
/// The bytes a load generator sends, and the check of what comes back. Every message is a different
/// window of one random block, so an echo that corrupts, drops, repeats or reorders bytes, or mixes
/// up connections, shows as a mismatch.
/// </summary>
/// <remarks>Built once and shared read-only by every connection.</remarks>
internal sealed class MessagePattern
{
    // How many distinct windows consecutive messages cycle through; prime, so that connections
    // with different indexes do not stay in step.
    private const int Windows = 251;

    private readonly byte[] _block;

    /// <summary>Creates the pattern for batches of <paramref name="batchBytes"/> bytes.</summary>
    public MessagePattern(int batchBytes, int seed = 6)
    {
        BatchBytes = batchBytes;
        _block = new byte[batchBytes + Windows];
        new Random(seed).NextBytes(_block);
    }

    /// <summary>Bytes in one batch (message size × pipeline depth).</summary>
    public int BatchBytes { get; }

    /// <summary>The bytes of batch <paramref name="sequence"/> on connection <paramref name="connection"/>.</summary>
    public ReadOnlyMemory<byte> Batch(long connection, long sequence) =>
        _block.AsMemory((int)((connection * 7 + sequence) % Windows), BatchBytes);

    /// <summary>Whether <paramref name="received"/> is exactly the batch that was sent.</summary>
    public bool Matches(ReadOnlySpan<byte> received, long connection, long sequence) =>
        received.SequenceEqual(Batch(connection, sequence).Span);
}
