using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using Sockeye.Framing.Internal;

namespace Sockeye.Framing;

/// <summary>
/// Reads and writes whole frames on a <see cref="Connection"/> with a codec: one frame, every frame
/// (<c>await foreach</c>), one frame written and flushed, or many frames with a single flush.
/// </summary>
/// <remarks>
/// <para><b>How long a frame's memory is valid.</b> A frame read by these helpers is a slice of the
/// connection's receive buffer, handed out without copying. It is valid <b>until the next frame read
/// on the same connection</b> (<see cref="ReadFrameAsync"/>, <see cref="TryReadFrame"/>, or the next
/// step of <see cref="ReadFramesAsync"/>), or until the handler returns, whichever comes first. After
/// that the memory goes back to the pool and holds other bytes. Writing the frame (echoing it, parsing
/// it, copying it) before the next read is always safe; to keep it longer, copy it
/// (<c>frame.ToArray()</c>, or into memory of your own).</para>
/// <para>A frame larger than a quarter of <see cref="TcpServerOptions.MaxReadBufferSize"/> (256 KiB by
/// default) is gathered in pooled memory instead, because the reader refuses to hold more than that
/// limit unconsumed; the same validity rule applies.</para>
/// <para>While a frame is held, the bytes behind it stay in <see cref="Connection.Input"/>: do not read
/// <see cref="Connection.Input"/> directly and through these helpers on the same connection.</para>
/// <para>Decoder errors propagate: a <see cref="FrameTooLargeException"/> or an
/// <see cref="InvalidDataException"/> that ends the handler is counted by the server as a protocol
/// error and closes that connection only, with a reset. To answer first (an error line the peer must
/// read), catch it and call <see cref="RejectAsync"/>: it replies, drops the rest of the input and
/// closes gracefully, and the server still counts one protocol error.</para>
/// </remarks>
public static class ConnectionFramingExtensions
{
    /// <summary>Reads the next frame, waiting for its bytes as needed.</summary>
    /// <param name="connection">The connection to read from.</param>
    /// <param name="decoder">The frame format. Use one decoder instance per connection.</param>
    /// <param name="cancellationToken">Cancels the wait (<see cref="OperationCanceledException"/>).</param>
    /// <returns>The frame, valid until the next frame read (see the class remarks); <see langword="null"/>
    /// when the peer closed its side between two frames.</returns>
    /// <exception cref="FrameTooLargeException">The next frame exceeds the decoder's maximum.</exception>
    /// <exception cref="InvalidDataException">The bytes are not a valid frame, or the peer closed the
    /// connection in the middle of one.</exception>
    /// <exception cref="OperationCanceledException">The token fired, or a pending read was cancelled
    /// with <see cref="PipeReader.CancelPendingRead"/>.</exception>
    public static ValueTask<ReadOnlySequence<byte>?> ReadFrameAsync(this Connection connection, IFrameDecoder decoder, CancellationToken cancellationToken = default)
    {
        var reader = ReaderFor(connection);
        ArgumentNullException.ThrowIfNull(decoder);
        if (reader.TryReadBuffered(decoder, out var frame))
        {
            return new ValueTask<ReadOnlySequence<byte>?>(frame);
        }

        return ReadSlowAsync(reader, decoder, cancellationToken);
    }

    /// <summary>Decodes a frame from bytes already received, without waiting: for handlers that answer
    /// every request that arrived together with one flush.</summary>
    /// <param name="connection">The connection to read from.</param>
    /// <param name="decoder">The frame format.</param>
    /// <param name="frame">The frame, valid until the next frame read (see the class remarks).</param>
    /// <returns><see langword="true"/> when a whole frame was already buffered.</returns>
    /// <exception cref="InvalidDataException">The decoder refused the buffered bytes.</exception>
    public static bool TryReadFrame(this Connection connection, IFrameDecoder decoder, out ReadOnlySequence<byte> frame)
    {
        var reader = ReaderFor(connection);
        ArgumentNullException.ThrowIfNull(decoder);
        return reader.TryReadBuffered(decoder, out frame);
    }

    /// <summary>
    /// Every frame until the peer closes its side, for <c>await foreach</c>. The enumeration also ends
    /// when the server asks handlers to finish (<see cref="Connection.ShutdownRequested"/>), after the
    /// frames already received have been handed out, so a graceful shutdown answers every request that
    /// reached the server.
    /// </summary>
    /// <param name="connection">The connection to read from.</param>
    /// <param name="decoder">The frame format. Use one decoder instance per connection.</param>
    /// <param name="cancellationToken">Cancels the wait for the next frame.</param>
    /// <returns>The frames; each is valid until the enumeration moves to the next (see the class remarks).</returns>
    /// <exception cref="FrameTooLargeException">A frame exceeds the decoder's maximum.</exception>
    /// <exception cref="InvalidDataException">The bytes are not a valid frame, or the peer closed the
    /// connection in the middle of one.</exception>
    public static async IAsyncEnumerable<ReadOnlySequence<byte>> ReadFramesAsync(this Connection connection, IFrameDecoder decoder, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var reader = ReaderFor(connection);
        ArgumentNullException.ThrowIfNull(decoder);

        // One registration for the whole enumeration rather than a token on every read: a pending read
        // then returns "cancelled" when the server asks handlers to finish.
        using var shutdown = connection.ShutdownRequested.UnsafeRegister(static s => ((PipeReader)s!).CancelPendingRead(), connection.Input);
        while (true)
        {
            var status = await reader.ReadAsync(decoder, cancellationToken).ConfigureAwait(false);
            if (status == FrameReadStatus.Frame)
            {
                yield return reader.Frame;
            }
            else if (status == FrameReadStatus.End || connection.ShutdownRequested.IsCancellationRequested)
            {
                yield break;
            }
        }
    }

    /// <summary>Encodes <paramref name="frame"/> into <see cref="Connection.Output"/> without flushing:
    /// call it for each frame of a batch, then flush once.</summary>
    /// <param name="connection">The connection to write to.</param>
    /// <param name="encoder">The frame format.</param>
    /// <param name="frame">The frame's bytes.</param>
    /// <exception cref="ArgumentException">The encoder cannot encode the frame (too large, contains its
    /// delimiter, ...).</exception>
    public static void WriteFrame(this Connection connection, IFrameEncoder encoder, in ReadOnlySequence<byte> frame)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(encoder);
        encoder.Encode(frame, connection.Output);
    }

    /// <summary>Encodes <paramref name="frame"/> into <see cref="Connection.Output"/> without flushing.</summary>
    /// <param name="connection">The connection to write to.</param>
    /// <param name="encoder">The frame format.</param>
    /// <param name="frame">The frame's bytes.</param>
    /// <exception cref="ArgumentException">The encoder cannot encode the frame.</exception>
    public static void WriteFrame(this Connection connection, IFrameEncoder encoder, ReadOnlyMemory<byte> frame) =>
        WriteFrame(connection, encoder, new ReadOnlySequence<byte>(frame));

    /// <summary>Writes one frame and flushes: it is on its way to the peer when the returned task
    /// completes (the flush waits while the peer is slow to read).</summary>
    /// <param name="connection">The connection to write to.</param>
    /// <param name="encoder">The frame format.</param>
    /// <param name="frame">The frame's bytes; a frame just read can be passed back directly (an echo).</param>
    /// <param name="cancellationToken">Cancels the flush.</param>
    /// <returns>The flush result; <c>IsCompleted</c> means the peer is no longer reading.</returns>
    /// <exception cref="ArgumentException">The encoder cannot encode the frame.</exception>
    public static ValueTask<FlushResult> WriteFrameAsync(this Connection connection, IFrameEncoder encoder, ReadOnlySequence<byte> frame, CancellationToken cancellationToken = default)
    {
        WriteFrame(connection, encoder, frame);
        return connection.Output.FlushAsync(cancellationToken);
    }

    /// <summary>Writes one frame and flushes.</summary>
    /// <param name="connection">The connection to write to.</param>
    /// <param name="encoder">The frame format.</param>
    /// <param name="frame">The frame's bytes.</param>
    /// <param name="cancellationToken">Cancels the flush.</param>
    /// <returns>The flush result; <c>IsCompleted</c> means the peer is no longer reading.</returns>
    /// <exception cref="ArgumentException">The encoder cannot encode the frame.</exception>
    public static ValueTask<FlushResult> WriteFrameAsync(this Connection connection, IFrameEncoder encoder, ReadOnlyMemory<byte> frame, CancellationToken cancellationToken = default) =>
        WriteFrameAsync(connection, encoder, new ReadOnlySequence<byte>(frame), cancellationToken);

    /// <summary>Writes every frame of <paramref name="frames"/>, then flushes once: one send for the
    /// batch instead of one per frame.</summary>
    /// <param name="connection">The connection to write to.</param>
    /// <param name="encoder">The frame format.</param>
    /// <param name="frames">The frames, in order.</param>
    /// <param name="cancellationToken">Cancels the flush.</param>
    /// <returns>The flush result; <c>IsCompleted</c> means the peer is no longer reading.</returns>
    /// <exception cref="ArgumentException">The encoder cannot encode one of the frames; the frames before
    /// it are written but not flushed.</exception>
    public static ValueTask<FlushResult> WriteFramesAsync(this Connection connection, IFrameEncoder encoder, IEnumerable<ReadOnlyMemory<byte>> frames, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(encoder);
        ArgumentNullException.ThrowIfNull(frames);
        foreach (var frame in frames)
        {
            encoder.Encode(new ReadOnlySequence<byte>(frame), connection.Output);
        }

        return connection.Output.FlushAsync(cancellationToken);
    }

    /// <summary>How long <see cref="RejectAsync"/> reads and drops the peer's bytes, by default, waiting
    /// for it to close: 5 seconds.</summary>
    public static TimeSpan DefaultRejectLinger { get; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Answers input the handler will not accept — an oversize frame (<see cref="FrameTooLargeException"/>),
    /// a malformed one — and ends the connection so that the peer reads the answer:
    /// <list type="number">
    /// <item>the connection is marked as a protocol error (<see cref="TcpServer.ProtocolErrors"/> counts
    /// it once, when the handler ends, whether the handler then returns or rethrows);</item>
    /// <item><paramref name="reply"/> is sent, then the sending side is closed (FIN; with TLS,
    /// close_notify first);</item>
    /// <item>whatever the peer still sends (the rest of the oversize frame) is read and dropped until
    /// it closes its side, for at most <paramref name="linger"/>.</item>
    /// </list>
    /// Return from the handler afterwards; the server then closes the socket. Without the third step
    /// the unread rest of the frame would make the kernel answer the close with a reset (RST), which
    /// can destroy the reply before the peer reads it.
    /// </summary>
    /// <param name="connection">The connection to reject.</param>
    /// <param name="reply">The bytes to send first (an error line, an error frame already encoded);
    /// may be empty.</param>
    /// <param name="reason">Why, for the server's log and close reason, such as the exception's message.</param>
    /// <param name="linger">The longest to wait for the peer to close after the reply;
    /// <see langword="null"/> means <see cref="DefaultRejectLinger"/>. A peer still sending when it
    /// passes is reset.</param>
    /// <returns>A task that completes when the peer has closed, the linger has passed, the connection
    /// failed, or the server asked handlers to finish; it does not throw for a peer that is gone.</returns>
    /// <example>
    /// <code>
    /// try
    /// {
    ///     await foreach (var line in connection.ReadFramesAsync(lines)) { ... }
    /// }
    /// catch (FrameTooLargeException ex)
    /// {
    ///     await connection.RejectAsync("-ERR line too long\n"u8.ToArray(), ex.Message);
    /// }
    /// </code>
    /// </example>
    public static async Task RejectAsync(this Connection connection, ReadOnlyMemory<byte> reply, string reason, TimeSpan? linger = null)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentException.ThrowIfNullOrEmpty(reason);
        var wait = linger ?? DefaultRejectLinger;
        ArgumentOutOfRangeException.ThrowIfLessThan(wait, TimeSpan.Zero);
        var facts = connection.Root.Extras.Rare;
        facts.ProtocolError ??= reason;
        try
        {
            if (!reply.IsEmpty)
            {
                connection.Output.Write(reply.Span);
            }

            await connection.CloseAsync().ConfigureAwait(false);
            using var lingering = new CancellationTokenSource(wait);
            using var shutdown = connection.ShutdownRequested.UnsafeRegister(static s => ((PipeReader)s!).CancelPendingRead(), connection.Input);
            if (connection.FrameReader is { } reader)
            {
                await reader.DiscardAsync(lingering.Token).ConfigureAwait(false);
            }
            else
            {
                await DiscardAsync(connection.Input, lingering.Token).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException)
        {
            // The peer reset or vanished, or the linger passed: the reply went as far as it could.
        }
    }

    private static async Task DiscardAsync(PipeReader input, CancellationToken cancellationToken)
    {
        while (true)
        {
            var result = await input.ReadAsync(cancellationToken).ConfigureAwait(false);
            input.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted || result.IsCanceled)
            {
                return;
            }
        }
    }

    private static FrameReader ReaderFor(Connection connection)
    {
        ArgumentNullException.ThrowIfNull(connection);
        return connection.FrameReader ??= new FrameReader(connection.Input, connection);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private static async ValueTask<ReadOnlySequence<byte>?> ReadSlowAsync(FrameReader reader, IFrameDecoder decoder, CancellationToken cancellationToken)
    {
        return await reader.ReadAsync(decoder, cancellationToken).ConfigureAwait(false) switch
        {
            FrameReadStatus.Frame => reader.Frame,
            FrameReadStatus.End => null,
            _ => throw new OperationCanceledException("the read was cancelled (PipeReader.CancelPendingRead)"),
        };
    }
}
