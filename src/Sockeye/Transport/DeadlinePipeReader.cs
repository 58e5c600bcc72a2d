using System.IO.Pipelines;
using System.Runtime.CompilerServices;

namespace Sockeye.Transport;

/// <summary>
/// The <see cref="Connection.Input"/> a handler sees: the input pipe's reader, plus the bookkeeping
/// that tells the connection when the handler is in a read, so that read timeouts and deadlines
/// know what "a pending read" is.
/// </summary>
/// <remarks>
/// A read starts at the handler's first <c>ReadAsync</c> (or successful <c>TryRead</c>) and ends when
/// <c>AdvanceTo</c> consumes bytes. A codec that only examines a partial frame and reads again stays
/// in the same read, which is what makes <see cref="Connection.ReadTimeout"/> cover a whole frame.
/// Telling "consumed" from "examined" needs the start of the buffer the handler was given; that costs
/// a pooled await, so it is done only for reads that a timeout or a minimum rate actually times.
/// Otherwise every call goes straight to the pipe.
/// </remarks>
internal sealed class DeadlinePipeReader(SocketConnection connection, PipeReader inner) : PipeReader
{
    private bool _inRead;
    private bool _trackConsumption;
    private SequencePosition _start;

    public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
    {
        if (!_inRead)
        {
            _inRead = true;
            var error = connection.BeginRead(out _trackConsumption);
            if (error is not null)
            {
                return ValueTask.FromException<ReadResult>(error);
            }
        }

        var read = inner.ReadAsync(cancellationToken);
        if (!_trackConsumption)
        {
            return read;
        }

        if (read.IsCompletedSuccessfully)
        {
            var result = read.Result;
            _start = result.Buffer.Start;
            return new ValueTask<ReadResult>(result);
        }

        return ReadAndMarkStartAsync(read);
    }

    public override bool TryRead(out ReadResult result)
    {
        if (!inner.TryRead(out result))
        {
            return false;
        }

        if (!_inRead)
        {
            _inRead = true;
            var error = connection.BeginRead(out _trackConsumption);
            if (error is not null)
            {
                inner.AdvanceTo(result.Buffer.Start);
                throw error;
            }
        }

        _start = result.Buffer.Start;
        return true;
    }

    public override void AdvanceTo(SequencePosition consumed) => AdvanceTo(consumed, consumed);

    public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
    {
        inner.AdvanceTo(consumed, examined);
        if (_inRead && (!_trackConsumption || !consumed.Equals(_start)))
        {
            _inRead = false;
            connection.EndRead();
        }
    }

    public override void CancelPendingRead() => inner.CancelPendingRead();

    public override void Complete(Exception? exception = null) => inner.Complete(exception);

    public override ValueTask CompleteAsync(Exception? exception = null) => inner.CompleteAsync(exception);

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<ReadResult> ReadAndMarkStartAsync(ValueTask<ReadResult> read)
    {
        var result = await read.ConfigureAwait(false);
        _start = result.Buffer.Start;
        return result;
    }
}
