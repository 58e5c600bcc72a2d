using System.Buffers.Text;
using System.Net.Sockets;
using System.Text;

namespace Sockeye.Bench;

/// <summary>
/// One connection of <c>bench fanout</c> speaking the chat line protocol (docs/CHAT.md): its socket,
/// its room, the lines it has received but not yet taken, and what its receive loop counted.
/// </summary>
/// <remarks>One receive loop owns the buffer; the counters are written by that loop and read by the
/// workload's drain and result, so they are read with <see cref="Volatile"/> and written with it.</remarks>
internal sealed class ChatMember(BenchConnection connection, int room, int publisher) : IDisposable
{
    // Room for several maximum lines (4096 bytes each): one receive takes many small deliveries at once.
    private const int BufferBytes = 64 * 1024;

    private readonly byte[] _buffer = new byte[BufferBytes];
    private int _start;
    private int _end;
    private long _delivered;

    public Socket Socket => connection.Socket;

    /// <summary>The room this member joined (<c>room&lt;Room&gt;</c>).</summary>
    public int Room { get; } = room;

    /// <summary>The publisher's number (<c>p&lt;Publisher&gt;</c>), or -1 for a subscriber.</summary>
    public int Publisher { get; } = publisher;

    /// <summary>Deliveries of measured messages this member received.</summary>
    public long Delivered => Volatile.Read(ref _delivered);

    public void CountDelivered(long count) => Volatile.Write(ref _delivered, _delivered + count);

    /// <summary>Sends <paramref name="bytes"/> whole.</summary>
    public async Task SendAsync(ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken)
    {
        while (!bytes.IsEmpty)
        {
            var sent = await Socket.SendAsync(bytes, SocketFlags.None, cancellationToken).ConfigureAwait(false);
            bytes = bytes[sent..];
        }
    }

    /// <summary>Reads until a line that starts with <paramref name="expected"/> arrives; an <c>ERR</c> line or
    /// the end of the connection is an <see cref="IOException"/> naming what the server said.</summary>
    public async Task ExpectAsync(string expected, CancellationToken cancellationToken)
    {
        var want = Encoding.ASCII.GetBytes(expected);
        while (true)
        {
            while (TryTakeLine(out var line))
            {
                if (line.StartsWith(want))
                {
                    return;
                }

                if (line.StartsWith("ERR "u8))
                {
                    throw new IOException($"the server answered '{Encoding.UTF8.GetString(line)}' while waiting for '{expected}'");
                }
            }

            if (await ReceiveAsync(cancellationToken).ConfigureAwait(false) == 0)
            {
                throw new IOException($"the server closed the connection while waiting for '{expected}'");
            }
        }
    }

    /// <summary>Reads more bytes into the buffer; 0 when the server closed the connection.</summary>
    public ValueTask<int> ReceiveAsync(CancellationToken cancellationToken)
    {
        if (_start > 0 && (_start == _end || _end == _buffer.Length))
        {
            // Move the partial line to the front; a full buffer without a newline would be a line longer
            // than any the protocol allows, so it cannot stay full.
            _buffer.AsSpan(_start, _end - _start).CopyTo(_buffer);
            _end -= _start;
            _start = 0;
        }

        if (_end == _buffer.Length)
        {
            throw new IOException($"a line longer than {BufferBytes} bytes arrived");
        }

        return ReceiveIntoAsync(cancellationToken);
    }

    private async ValueTask<int> ReceiveIntoAsync(CancellationToken cancellationToken)
    {
        var received = await Socket.ReceiveAsync(_buffer.AsMemory(_end), SocketFlags.None, cancellationToken).ConfigureAwait(false);
        _end += received;
        return received;
    }

    /// <summary>The next whole line received, without its "\n" (and "\r"); false when none is complete yet.</summary>
    public bool TryTakeLine(out ReadOnlySpan<byte> line)
    {
        var rest = _buffer.AsSpan(_start, _end - _start);
        var newline = rest.IndexOf((byte)'\n');
        if (newline < 0)
        {
            line = default;
            return false;
        }

        line = rest[..newline];
        if (!line.IsEmpty && line[^1] == '\r')
        {
            line = line[..^1];
        }

        _start += newline + 1;
        return true;
    }

    /// <summary>
    /// Reads a delivery, <c>&lt;room&gt; p&lt;j&gt;: &lt;seq&gt; &lt;stamp&gt; &lt;padding&gt;</c>, into the
    /// publisher's number, the message's sequence number and its stamp; false for any other line.
    /// </summary>
    public static bool TryParseDelivery(ReadOnlySpan<byte> line, out int publisher, out long sequence, out long stamp)
    {
        publisher = -1;
        sequence = stamp = 0;
        var space = line.IndexOf((byte)' ');
        if (space < 0)
        {
            return false;
        }

        line = line[(space + 1)..];
        var colon = line.IndexOf(": "u8);
        if (colon < 2 || line[0] != 'p'
            || !Utf8Parser.TryParse(line[1..colon], out publisher, out var nickDigits) || nickDigits != colon - 1)
        {
            return false;
        }

        line = line[(colon + 2)..];
        if (!Utf8Parser.TryParse(line, out sequence, out var seqDigits) || seqDigits >= line.Length || line[seqDigits] != ' ')
        {
            return false;
        }

        line = line[(seqDigits + 1)..];
        return Utf8Parser.TryParse(line, out stamp, out var stampDigits) && (stampDigits == line.Length || line[stampDigits] == ' ');
    }

    public void Dispose() => connection.Dispose();
}
