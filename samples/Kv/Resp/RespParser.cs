using System.Buffers;

namespace Sockeye.Samples.Kv.Resp;

/// <summary>
/// Decodes requests the way redis-server does: RESP2 arrays of bulk strings, and inline commands
/// (a line of words, what <c>redis-cli</c> sends for typed input and <c>redis-benchmark</c> for
/// <c>PING_INLINE</c>).
/// </summary>
/// <remarks>
/// <code>
///   *2\r\n$3\r\nGET\r\n$1\r\nk\r\n        →  ["GET", "k"]
///   SET k "a b"\r\n                        →  ["SET", "k", "a b"]
/// </code>
/// <para>An incomplete request is a normal outcome: <see cref="TryParse"/> returns false and consumes
/// nothing, so the caller reads more and tries again. A broken request throws
/// <see cref="RespProtocolException"/> with Redis's reply text. Nothing is allocated from a claimed
/// length: an argument is copied only once all its bytes are in the buffer, and the argument list grows
/// with arguments that arrived. Headers and inline lines longer than 64 KiB are refused (Redis's
/// <c>PROTO_INLINE_MAX_SIZE</c>). Empty requests (<c>*0</c>, <c>*-1</c>, blank lines) are skipped,
/// as Redis skips them.</para>
/// </remarks>
internal static class RespParser
{
    /// <summary>The longest inline request or header line (Redis's PROTO_INLINE_MAX_SIZE).</summary>
    public const int MaxLineLength = 64 * 1024;

    /// <summary>Parses the next request from <paramref name="reader"/> into <paramref name="args"/>.</summary>
    /// <returns>True with the reader past the request; false when more bytes are needed (the reader is
    /// past skipped empty requests only).</returns>
    /// <exception cref="RespProtocolException">The request breaks the protocol or a limit.</exception>
    public static bool TryParse(ref SequenceReader<byte> reader, CommandArgs args, RespLimits limits)
    {
        while (!reader.End)
        {
            args.Clear();
            var attempt = reader;
            bool complete;
            if (attempt.TryPeek(out var first) && first == (byte)'*')
            {
                complete = TryParseArray(ref attempt, args, limits);
            }
            else
            {
                complete = TryParseInline(ref attempt, args);
            }

            if (!complete)
            {
                args.Clear();
                return false;
            }

            reader = attempt;
            if (args.Count > 0)
            {
                return true;
            }
        }

        return false;
    }

    private static bool TryParseArray(ref SequenceReader<byte> reader, CommandArgs args, RespLimits limits)
    {
        if (!TryReadHeader(ref reader, "too big mbulk count string", out var header))
        {
            return false;
        }

        if (!TryParseLong(header[1..], out var count) || count > limits.MaxArray)
        {
            throw new RespProtocolException("ERR Protocol error: invalid multibulk length",
                $"array header '{Printable(header)}' is not a length between 0 and MaxArray {limits.MaxArray}");
        }

        for (long i = 0; i < count; i++)
        {
            if (!reader.TryPeek(out var kind))
            {
                return false;
            }

            if (kind != (byte)'$')
            {
                throw new RespProtocolException($"ERR Protocol error: expected '$', got '{(char)kind}'",
                    $"element {i} of the array starts with byte {kind}, not a bulk string");
            }

            if (!TryReadHeader(ref reader, "too big bulk count string", out var bulkHeader))
            {
                return false;
            }

            if (!TryParseLong(bulkHeader[1..], out var length) || length < 0 || length > limits.MaxBulk)
            {
                throw new RespProtocolException("ERR Protocol error: invalid bulk length",
                    $"bulk header '{Printable(bulkHeader)}' is not a length between 0 and MaxBulk {limits.MaxBulk}");
            }

            // The two bytes after the bulk are skipped unchecked, as redis-server does.
            if (reader.Remaining < length + 2)
            {
                return false;
            }

            var target = args.Add((int)length);
            reader.UnreadSequence.Slice(0, length).CopyTo(target);
            reader.Advance(length + 2);
        }

        return true;
    }

    /// <summary>Reads a header line up to its '\r' and the byte after it (Redis looks for '\r' alone).</summary>
    private static bool TryReadHeader(ref SequenceReader<byte> reader, string tooBig, out ReadOnlySpan<byte> header)
    {
        header = default;
        if (!reader.TryReadTo(out ReadOnlySequence<byte> line, (byte)'\r', advancePastDelimiter: false))
        {
            if (reader.Remaining > MaxLineLength)
            {
                throw new RespProtocolException($"ERR Protocol error: {tooBig}", $"no line end in the first {MaxLineLength} bytes");
            }

            return false;
        }

        if (line.Length > MaxLineLength)
        {
            throw new RespProtocolException($"ERR Protocol error: {tooBig}", $"a line of {line.Length} bytes exceeds {MaxLineLength}");
        }

        if (reader.Remaining < 2)
        {
            return false;
        }

        reader.Advance(2);
        header = line.IsSingleSegment ? line.FirstSpan : line.ToArray();
        return true;
    }

    private static bool TryParseInline(ref SequenceReader<byte> reader, CommandArgs args)
    {
        if (!reader.TryReadTo(out ReadOnlySequence<byte> line, (byte)'\n'))
        {
            if (reader.Remaining > MaxLineLength)
            {
                throw new RespProtocolException("ERR Protocol error: too big inline request", $"no line end in the first {MaxLineLength} bytes");
            }

            return false;
        }

        if (line.Length > MaxLineLength)
        {
            throw new RespProtocolException("ERR Protocol error: too big inline request", $"an inline request of {line.Length} bytes exceeds {MaxLineLength}");
        }

        ReadOnlySpan<byte> span = line.IsSingleSegment ? line.FirstSpan : line.ToArray();
        if (span.Length > 0 && span[^1] == (byte)'\r')
        {
            span = span[..^1];
        }

        if (!InlineSplitter.TrySplit(span, args))
        {
            throw new RespProtocolException("ERR Protocol error: unbalanced quotes in request", "an inline request with an unclosed quote");
        }

        return true;
    }

    /// <summary>Redis's <c>string2ll</c>: an optional '-', then digits without a leading zero, in range.</summary>
    internal static bool TryParseLong(ReadOnlySpan<byte> text, out long value)
    {
        value = 0;
        if (text.Length is 0 or > 20)
        {
            return false;
        }

        if (text is [(byte)'0'])
        {
            return true;
        }

        var negative = text[0] == (byte)'-';
        var digits = negative ? text[1..] : text;
        if (digits.Length == 0 || digits[0] is < (byte)'1' or > (byte)'9')
        {
            return false;
        }

        ulong magnitude = 0;
        foreach (var b in digits)
        {
            if (b is < (byte)'0' or > (byte)'9')
            {
                return false;
            }

            var next = (magnitude * 10) + (ulong)(b - '0');
            if (magnitude > ulong.MaxValue / 10 || next < magnitude)
            {
                return false;
            }

            magnitude = next;
        }

        if (negative)
        {
            if (magnitude > (ulong)long.MaxValue + 1)
            {
                return false;
            }

            value = (long)(0 - magnitude);
            return true;
        }

        if (magnitude > long.MaxValue)
        {
            return false;
        }

        value = (long)magnitude;
        return true;
    }

    private static string Printable(ReadOnlySpan<byte> bytes)
    {
        var shown = bytes[..Math.Min(bytes.Length, 32)];
        return string.Create(shown.Length, shown.ToArray(), static (chars, b) =>
        {
            for (var i = 0; i < b.Length; i++)
            {
                chars[i] = b[i] is >= 32 and < 127 ? (char)b[i] : '?';
            }
        });
    }
}
