namespace Sockeye.Transport;

/// <summary>
/// Where a connection's <see cref="Outbox"/> sends: the plain transport's <see cref="SocketWriter"/>, or
/// the TLS layer's output (which encrypts each queued message for its own connection). Both keep one
/// send gate that the handler's flushes and the queue's drains share.
/// </summary>
internal interface IOutboxSink
{
    /// <summary>Takes the send gate if it is free.</summary>
    bool TryEnterGate();

    /// <summary>Frees the send gate.</summary>
    void FreeGate();

    /// <summary>Sends the chain <paramref name="head"/> … <paramref name="tail"/>; the caller holds the gate.</summary>
    ValueTask SendChainAsync(BufferSegment head, BufferSegment tail);

    /// <summary>Whether the output was closed (the connection is ending gracefully).</summary>
    bool IsClosed { get; }
}
