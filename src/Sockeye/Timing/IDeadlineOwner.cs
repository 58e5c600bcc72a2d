namespace Sockeye.Timing;

/// <summary>
/// What a connection's <see cref="ConnectionDeadlines"/> needs from the connection it times: whether a
/// read or a send is in progress (the connection's own flags, which exist before the deadlines do),
/// whether it is already aborted, its id for the timeout message, and the abort itself.
/// </summary>
/// <remarks>Timing depends on this interface, never on the transport (ARCHITECTURE.md, "Layers");
/// <c>SocketConnection</c> implements it. The flags are read on the scan and on a deadline change,
/// not on the read path, so the interface call costs nothing where it matters.</remarks>
internal interface IDeadlineOwner
{
    /// <summary>The connection's id, for the timeout message.</summary>
    long Id { get; }

    /// <summary>Whether the handler is inside a read (from its <c>ReadAsync</c> until it consumes).</summary>
    bool IsReadPending { get; }

    /// <summary>Whether a send is in progress (the kernel has not taken every byte yet).</summary>
    bool IsSendPending { get; }

    /// <summary>Whether the connection was aborted.</summary>
    bool IsAborted { get; }

    /// <summary>Aborts the connection with <paramref name="reason"/>, as a timeout does.</summary>
    void Abort(string reason);
}
