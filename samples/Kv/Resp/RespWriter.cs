using System.Buffers;
using System.Buffers.Text;
using System.Globalization;
using System.Text;

namespace Sockeye.Samples.Kv.Resp;

/// <summary>Encodes RESP2 replies into a buffer writer (the connection's output pipe, or a scratch
/// buffer for connections whose replies go through the send queue).</summary>
internal static class RespWriter
{
    /// <summary><c>+OK</c>.</summary>
    public static void Ok(IBufferWriter<byte> output) => output.Write("+OK\r\n"u8);

    /// <summary>A null bulk string (<c>$-1</c>), Redis's "nil".</summary>
    public static void Null(IBufferWriter<byte> output) => output.Write("$-1\r\n"u8);

    /// <summary>A null array (<c>*-1</c>).</summary>
    public static void NullArray(IBufferWriter<byte> output) => output.Write("*-1\r\n"u8);

    /// <summary>A simple string: <c>+text</c> (Latin-1, no line breaks).</summary>
    public static void Simple(IBufferWriter<byte> output, string text) => Line(output, (byte)'+', text);

    /// <summary>An error: <c>-text</c>; line breaks in it become spaces, as Redis makes them.</summary>
    public static void Error(IBufferWriter<byte> output, string text) =>
        Line(output, (byte)'-', text.Replace('\r', ' ').Replace('\n', ' '));

    /// <summary>An integer: <c>:value</c>.</summary>
    public static void Integer(IBufferWriter<byte> output, long value) => Number(output, (byte)':', value);

    /// <summary>An array header: <c>*count</c>, followed by <paramref name="count"/> replies.</summary>
    public static void ArrayHeader(IBufferWriter<byte> output, int count) => Number(output, (byte)'*', count);

    /// <summary>A bulk string: <c>$length</c>, the bytes, CRLF.</summary>
    public static void Bulk(IBufferWriter<byte> output, ReadOnlySpan<byte> value)
    {
        Number(output, (byte)'$', value.Length);
        output.Write(value);
        output.Write("\r\n"u8);
    }

    /// <summary>A bulk string of ASCII or UTF-8 text.</summary>
    public static void Bulk(IBufferWriter<byte> output, string text) => Bulk(output, Encoding.UTF8.GetBytes(text));

    /// <summary>An integer as a bulk string (INCR's stored form, a score...).</summary>
    public static void BulkNumber(IBufferWriter<byte> output, long value)
    {
        Span<byte> digits = stackalloc byte[20];
        Utf8Formatter.TryFormat(value, digits, out var written);
        Bulk(output, digits[..written]);
    }

    /// <summary>A double as a bulk string, formatted as Redis 7.0 formats scores.</summary>
    public static void BulkDouble(IBufferWriter<byte> output, double value) => Bulk(output, FormatDouble(value));

    /// <summary>Redis 7.0's <c>d2string</c>: integers without a fraction, otherwise <c>%.17g</c>; <c>inf</c>, <c>-inf</c>.</summary>
    public static string FormatDouble(double value)
    {
        if (double.IsPositiveInfinity(value))
        {
            return "inf";
        }

        if (double.IsNegativeInfinity(value))
        {
            return "-inf";
        }

        if (value == Math.Floor(value) && Math.Abs(value) < 1e17)
        {
            return ((long)value).ToString(CultureInfo.InvariantCulture);
        }

        return value.ToString("G17", CultureInfo.InvariantCulture).Replace('E', 'e');
    }

    private static void Line(IBufferWriter<byte> output, byte kind, string text)
    {
        // Latin-1: one byte per char, so the bytes of a client's argument quoted in an error go back as they came.
        var length = text.Length;
        var span = output.GetSpan(length + 3);
        span[0] = kind;
        Encoding.Latin1.GetBytes(text, span[1..]);
        span[length + 1] = (byte)'\r';
        span[length + 2] = (byte)'\n';
        output.Advance(length + 3);
    }

    private static void Number(IBufferWriter<byte> output, byte kind, long value)
    {
        var span = output.GetSpan(24);
        span[0] = kind;
        Utf8Formatter.TryFormat(value, span[1..], out var written);
        span[written + 1] = (byte)'\r';
        span[written + 2] = (byte)'\n';
        output.Advance(written + 3);
    }
}
