namespace Sockeye.Transport;

/// <summary>
/// The <see cref="System.IO.Pipelines.PipeReader"/> rules both input readers enforce the same way
/// (<see cref="SocketReader"/> over the socket, TLS's reader over decrypted bytes): one result out at a
/// time, nothing after <c>Complete</c>, and the read-buffer limit, each failing with the same message.
/// </summary>
internal static class ReaderContract
{
    /// <summary>Throws when a read may not start: the reader was completed, or the previous result
    /// was not yet released by <c>AdvanceTo</c>.</summary>
    /// <exception cref="InvalidOperationException">The reader is completed or a result is out.</exception>
    public static void ThrowIfUnusable(bool completed, bool resultOut)
    {
        if (completed)
        {
            throw new InvalidOperationException("Reading is not allowed after the reader was completed.");
        }

        if (resultOut)
        {
            throw new InvalidOperationException("ReadAsync or TryRead was called again before AdvanceTo released the previous result.");
        }
    }

    /// <summary>Throws when <c>AdvanceTo</c> has no result to advance.</summary>
    /// <exception cref="InvalidOperationException">No result is out.</exception>
    public static void ThrowIfNothingToAdvance(bool resultOut)
    {
        if (!resultOut)
        {
            throw new InvalidOperationException("AdvanceTo was called without a ReadResult to advance (no ReadAsync or TryRead before it).");
        }
    }

    /// <summary>Whether <c>AdvanceTo</c> ends the handler's read for the timeouts: always, unless the
    /// read is timed until it consumes (<paramref name="trackConsumption"/>) and nothing was consumed.</summary>
    public static bool AdvanceEndsRead(bool inRead, bool trackConsumption, bool consumedAny) =>
        inRead && (!trackConsumption || consumedAny);

    /// <summary>The failure of a read that asks for more while <paramref name="buffered"/> bytes are
    /// held unconsumed, at or past <paramref name="limit"/> (<see cref="TcpServerOptions.MaxReadBufferSize"/>).</summary>
    public static InvalidDataException TooMuchBuffered(long connectionId, long buffered, long limit) =>
        new($"connection {connectionId} read {buffered} bytes without consuming any and asked for more; MaxReadBufferSize is {limit}");
}
