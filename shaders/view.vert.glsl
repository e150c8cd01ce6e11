/* view.vert.glsl - TsGlView's vertex stage (src/app/ts-gl-view.c).
 *
 * One triangle that covers the whole framebuffer, made from gl_VertexID
 * alone (no vertex buffer; the caller binds an empty vertex array and draws
 * 3 vertices).  All the work is per pixel in view.frag.glsl.
 *
 * The #version line (and the precision statements of GLSL ES) is put in
 * front of this text at run time: "#version 330 core" on desktop GL 3.3+,
 * "#version 300 es" on OpenGL ES 3.0+, whichever context GTK gives.
 */
void main()
{
    /* vertices 0,1,2 -> (-1,-1), (3,-1), (-1,3) */
    vec2 p = vec2(float((gl_VertexID << 1) & 2), float(gl_VertexID & 2));
    gl_Position = vec4(p * 2.0 - 1.0, 0.0, 1.0);
}
